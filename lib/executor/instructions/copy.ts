/**
 * `COPY` and `ADD`: files from the context, another stage, a named context or an image (`--from`), heredoc
 * sources, and for ADD URLs, git repositories and local archives (lib/copy does the copying).
 *
 * @module
 */
import type { AddInstruction, CopyInstruction } from "../../dockerfile/mod.ts";
import { resolveUser } from "../../sandbox/mod.ts";
import { addInto, copyInlineFiles, copyInto } from "../../copy/mod.ts";
import { KilnError } from "../../util/mod.ts";
import type { InstructionHandler, StageServices, StepContext } from "./types.ts";

/** `ADD https://…/repo.git?ref=…`: BuildKit's query form is not supported; say what to write instead. */
function rejectGitQuery(src: string, where: string): void {
  if (!/^https?:\/\//i.test(src)) return;
  let u: URL;
  try {
    u = new URL(src);
  } catch {
    return;
  }
  if (u.search !== "" && /\.git\/?$/.test(u.pathname)) {
    throw new KilnError(
      `${where}: ADD ${src}: git URL query parameters (${u.search}) are not supported by kiln; use ${u.origin}${u.pathname}#<ref>[:<subdir>]`,
    );
  }
}

/** BuildKit's ADD credentials: the secrets HTTP_AUTH_HEADER_<host> (whole header) or HTTP_AUTH_TOKEN_<host>. */
function authorization(services: StageServices): ((host: string) => Promise<string | undefined>) | undefined {
  const secrets = services.secrets;
  if (!secrets) return undefined;
  const dec = (b: Uint8Array | undefined) => b === undefined ? undefined : new TextDecoder().decode(b);
  return async (host) => {
    const header = dec(await secrets.get(`HTTP_AUTH_HEADER_${host}`));
    if (header !== undefined) return header;
    const token = dec(await secrets.get(`HTTP_AUTH_TOKEN_${host}`));
    return token === undefined ? undefined : `Bearer ${token}`;
  };
}

async function copyOrAdd(ins: CopyInstruction | AddInstruction, ctx: StepContext): Promise<void> {
  const s = ctx.services;
  const { dir } = await s.rootfs();
  const workdir = ctx.config.config?.WorkingDir || "/";
  let chown: { uid: number; gid: number } | undefined;
  if (ins.chown !== undefined && ins.chown !== "") {
    const u = await resolveUser(dir, ins.chown);
    chown = { uid: u.uid, gid: u.gid };
  }
  const from = ins.kind === "copy" && ins.from !== undefined ? ctx.word(ins.from) : undefined;
  const fromStage = from !== undefined ? await s.copySource(from, ctx.where) : undefined;
  const common = {
    srcRoot: fromStage ? fromStage.dir : s.contextDir,
    sources: ins.sources,
    dest: ins.dest,
    workdir,
    destRoot: dir,
    ...(chown ? { chown } : {}),
    keepOwnership: fromStage !== undefined,
    ...(ins.chmod !== undefined ? { chmod: ins.chmod } : {}),
    ...(ins.kind === "copy" && ins.parents ? { parents: true } : {}),
    ...(ins.excludes.length ? { exclude: ins.excludes } : {}),
    ...(fromStage === undefined && s.ignore ? { ignore: s.ignore } : {}),
    ...(ins.link ? { link: true } : {}),
    instruction: ins.kind === "add" ? "ADD" : "COPY",
    location: ctx.where,
    ...(fromStage ? { srcDescription: fromStage.description } : {}),
    ...(s.fixedTime !== undefined ? { now: s.fixedTime } : {}),
    ...(s.signal ? { signal: s.signal } : {}),
    changedPaths: false, // the snapshot finds them
  };
  if (ins.sourceContents.length > 0) {
    const { srcRoot: _s, sources: _src, ignore: _i, parents: _p, ...rest } = common as typeof common & {
      ignore?: unknown;
      parents?: unknown;
    };
    const files = ins.sourceContents.map((h) => ({ name: h.name, content: h.data }));
    await copyInlineFiles({ ...rest, files, tmpDir: s.layerDir });
    if (ins.sources.length === 0) return;
  }
  if (ins.kind === "copy") {
    await copyInto(common);
    return;
  }
  const auth = authorization(s);
  await addInto({
    ...common,
    tmpDir: s.layerDir,
    ...(ins.checksum !== undefined ? { checksum: ins.checksum } : {}),
    ...(ins.keepGitDir ? { keepGitDir: true } : {}),
    ...(ins.unpack !== undefined ? { unpack: ins.unpack } : {}),
    ...(s.gitEnv ? { gitEnv: s.gitEnv } : {}),
    ...(auth ? { authorization: auth } : {}),
  });
}

/** The COPY handler. */
export const copyHandler: InstructionHandler<"copy"> = {
  kind: "copy",
  changesFilesystem: true,
  execute: (ins: CopyInstruction, ctx) => copyOrAdd(ins, ctx),
};

/** The ADD handler. */
export const addHandler: InstructionHandler<"add"> = {
  kind: "add",
  changesFilesystem: true,
  execute(ins: AddInstruction, ctx) {
    for (const src of ins.sources) rejectGitQuery(src, ctx.where);
    return copyOrAdd(ins, ctx);
  },
};
