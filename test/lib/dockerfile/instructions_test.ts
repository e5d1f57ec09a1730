/** toStages() / parseInstruction(): typed instructions, every flag's validation and every error path. */
import { assertEquals, assertThrows } from "../../assert.ts";
import {
  DockerfileError,
  type Instruction,
  isValidChmod,
  type Mount,
  MountSyntaxError,
  parseDockerfile,
  parseInstruction,
  parseMount,
  toStages,
} from "../../../lib/dockerfile/mod.ts";

/** Parses `FROM x` + `line` and returns the typed instruction of `line`. */
function one(line: string): Instruction {
  const { stages } = toStages(parseDockerfile(`FROM x\n${line}\n`));
  return stages[0]!.instructions[0]!;
}

function fails(line: string, detail: string): void {
  const e = assertThrows(() => toStages(parseDockerfile(`FROM x\n${line}\n`, { filename: "df" })), DockerfileError);
  assertEquals(e.detail, detail, line);
  assertEquals(e.message.startsWith("df:2: "), true, e.message);
}

Deno.test("toStages() types every instruction kind with its location", () => {
  const text = [
    "ARG G=1",
    "FROM --platform=$P img:$G AS Build",
    "RUN echo hi",
    'RUN ["a", "b"]',
    "CMD x y",
    'ENTRYPOINT ["e"]',
    "ENV A=1 B=2",
    "LABEL k=v",
    "ARG a b=c",
    "USER u:g",
    "WORKDIR /w",
    "EXPOSE 80/tcp 53/udp",
    "VOLUME /v",
    'SHELL ["/bin/sh", "-ec"]',
    "STOPSIGNAL SIGINT",
    "HEALTHCHECK NONE",
    "ONBUILD RUN x",
    "MAINTAINER me",
    "COPY a b",
    "ADD a b",
  ].join("\n");
  const { stages, metaArgs } = toStages(parseDockerfile(text));
  assertEquals(metaArgs.map((a) => a.args), [[{ key: "G", value: "1" }]]);
  const st = stages[0]!;
  assertEquals([st.name, st.index, st.from.image, st.from.platform, st.location], [
    "build",
    0,
    "img:$G",
    "$P",
    { startLine: 2, endLine: 20 },
  ]);
  assertEquals(st.instructions.map((i) => i.kind), [
    "run",
    "run",
    "cmd",
    "entrypoint",
    "env",
    "label",
    "arg",
    "user",
    "workdir",
    "expose",
    "volume",
    "shell",
    "stopsignal",
    "healthcheck",
    "onbuild",
    "maintainer",
    "copy",
    "add",
  ]);
  const [run, exec, cmd, ep, env, , arg] = st.instructions;
  assertEquals(run, {
    kind: "run",
    location: { startLine: 3, endLine: 3 },
    original: "RUN echo hi",
    command: ["echo hi"],
    prependShell: true,
    heredocs: [],
    mountSpecs: [],
    mounts: [],
    devices: [],
  });
  assertEquals(exec!.kind === "run" && [exec.command, exec.prependShell], [["a", "b"], false]);
  assertEquals(cmd!.kind === "cmd" && cmd.command, ["x y"]);
  assertEquals(ep!.kind === "entrypoint" && ep.prependShell, false);
  assertEquals(env!.kind === "env" && env.pairs, [{ key: "A", value: "1" }, { key: "B", value: "2" }]);
  assertEquals(arg!.kind === "arg" && arg.args, [{ key: "a" }, { key: "b", value: "c" }]);
});

Deno.test("toStages() validates FROM: arguments, AS, stage names, duplicates (case-insensitive)", () => {
  const err = (text: string) => assertThrows(() => toStages(parseDockerfile(text)), DockerfileError).message;
  assertEquals(err("FROM a b\n"), "Dockerfile:1: FROM requires either one or three arguments");
  assertEquals(err("FROM a AS\n"), "Dockerfile:1: FROM requires either one or three arguments");
  assertEquals(err("FROM a TO b\n"), "Dockerfile:1: FROM requires either one or three arguments");
  assertEquals(
    err("FROM a AS 1st\n"),
    'Dockerfile:1: invalid name for build stage: "1st", name can\'t start with a number or contain symbols',
  );
  assertEquals(err("FROM a AS b$c\n").includes("invalid name for build stage"), true);
  assertEquals(err("FROM a AS One\nFROM b as one\n"), 'Dockerfile:2: duplicate stage name "one"');
  assertEquals(err("FROM --platform linux a\n"), "Dockerfile:1: missing a value on flag: platform");
  assertEquals(err("FROM --plat=x a\n"), "Dockerfile:1: unknown flag: plat (allowed: --platform)");
  assertEquals(toStages(parseDockerfile("FROM a as Web.2_x-y\n")).stages[0]!.name, "web.2_x-y");
  assertEquals(err("RUN x\n"), "Dockerfile:1: no build stage in current context (a Dockerfile must start with FROM)");
  assertEquals(err("ARG x\n"), "Dockerfile:1: dockerfile contains no stages to build (no FROM)");
  assertEquals(err("FROM a\nFOO bar\n"), "Dockerfile:2: unknown instruction: FOO");
  assertEquals(err("FROM a\nfoo bar\n"), "Dockerfile:2: unknown instruction: foo");
});

Deno.test("COPY and ADD flags are typed and validated", () => {
  assertEquals(
    one("COPY --from=build --chown=1:2 --chmod=0755 --link --parents --exclude=*.md --exclude=x a b /d/"),
    {
      kind: "copy",
      location: { startLine: 2, endLine: 2 },
      original: "COPY --from=build --chown=1:2 --chmod=0755 --link --parents --exclude=*.md --exclude=x a b /d/",
      sources: ["a", "b"],
      sourceContents: [],
      dest: "/d/",
      json: false,
      link: true,
      excludes: ["*.md", "x"],
      parents: true,
      chown: "1:2",
      chmod: "0755",
      from: "build",
    },
  );
  const add = one("ADD --keep-git-dir=true --checksum=sha256:abc --unpack=false --link=false https://x/y.tgz /d");
  assertEquals(add.kind === "add" && [add.keepGitDir, add.checksum, add.unpack, add.link], [
    true,
    "sha256:abc",
    false,
    false,
  ]);
  const json = one('COPY ["a b", "c"]');
  assertEquals(json.kind === "copy" && [json.sources, json.dest, json.json], [["a b"], "c", true]);
  fails(
    "COPY --keep-git-dir a b",
    "unknown flag: keep-git-dir (allowed: --from, --chown, --chmod, --link, --parents, --exclude)",
  );
  fails(
    "ADD --from=x a b",
    "unknown flag: from (allowed: --chown, --chmod, --link, --keep-git-dir, --checksum, --unpack, --exclude)",
  );
  fails("COPY --from=a --from=b a b", "duplicate flag specified: from");
  fails("COPY --from a b", "missing a value on flag: from");
  fails("COPY --link= a b", "missing a value on flag: link");
  fails("COPY --link=yes a b", "expecting boolean value for flag link, not: yes");
  fails("COPY --chmod=999 a b", 'invalid chmod parameter "999": must be octal (e.g. 755) or symbolic (u+x)');
  fails("COPY --chmod=u+q a b", 'invalid chmod parameter "u+q": must be octal (e.g. 755) or symbolic (u+x)');
  fails(
    "COPY a",
    "COPY requires at least two arguments, but only one was provided. Destination could not be determined.",
  );
  fails("ADD", "ADD requires at least two arguments, but only none was provided. Destination could not be determined.");
  fails("COPY a <<EOF\nx\nEOF", "COPY cannot accept a heredoc as a destination");
  assertEquals([isValidChmod("755"), isValidChmod("u=rwX,go=rX"), isValidChmod("g=u"), isValidChmod("$M")], [
    true,
    true,
    true,
    true,
  ]);
});

Deno.test("COPY/ADD heredoc sources are inline files (chomped for <<-, expand flag from quoting)", () => {
  const c = one("COPY <<-EOF <<'RAW' src /dst/\n\t\tline $X\n\tEOF\n$Y\nRAW");
  assertEquals(c.kind === "copy" && [c.sources, c.sourceContents, c.location], [
    ["src"],
    [
      { name: "EOF", data: "line $X\n", chomp: true, expand: true },
      { name: "RAW", data: "$Y\n", chomp: false, expand: false },
    ],
    { startLine: 2, endLine: 6 },
  ]);
  const r = one("RUN <<-EOF\n\tx\n\tEOF");
  assertEquals(r.kind === "run" && [r.command, r.heredocs], [["<<-EOF"], [{
    name: "EOF",
    data: "\tx\n",
    chomp: true,
    expand: true,
  }]]);
});

Deno.test("RUN flags: --mount (all types and keys), --network, --security, --device", () => {
  const r = one(
    "RUN --mount=type=cache,target=/c,id=go,sharing=private,mode=0700,uid=1,gid=2,from=b,source=/s,ro " +
      '--mount=type=secret,id=tok,env=TOKEN,required --mount=type=ssh --mount=type=tmpfs,dst=/t,size=64m --mount="type=bind,src=.,target=/src,rw=true" ' +
      "--network=none --security=insecure --device=vendor.com/gpu=all make",
  );
  if (r.kind !== "run") throw new Error("not run");
  assertEquals(
    r.mounts,
    [
      {
        type: "cache",
        readOnly: true,
        target: "/c",
        id: "go",
        sharing: "private",
        mode: 0o700,
        uid: 1,
        gid: 2,
        from: "b",
        source: "/s",
      },
      { type: "secret", readOnly: true, id: "tok", env: "TOKEN", required: true },
      { type: "ssh", readOnly: true, id: "default", required: false },
      { type: "tmpfs", readOnly: false, target: "/t", size: 64 * 1024 * 1024 },
      { type: "bind", readOnly: false, source: ".", target: "/src" },
    ] satisfies Mount[],
  );
  assertEquals([r.network, r.security, r.devices, r.command], ["none", "insecure", ["vendor.com/gpu=all"], ["make"]]);
  fails("RUN --network=bridge x", 'network mode "bridge" not supported (use default, none or host)');
  fails("RUN --security=root x", 'security mode "root" not supported (use sandbox or insecure)');
  fails("RUN --mount x", "missing a value on flag: mount");
  fails("RUN --mount=type=nfs x", 'unsupported mount type "nfs"');
  fails("RUN --mount=type=bind x", "mount type=bind requires a target");
  fails("RUN --mount=type=cache x", "mount type=cache requires a target");
  fails("RUN --mount=type=tmpfs,target=/t,size=lots x", "invalid value for size: lots");
  fails("RUN --mount=type=bind,target=/t,size=1m x", "unexpected key 'size' for mount type 'bind'");
  fails("RUN --mount=type=bind,target=/t,mode=0700 x", 'mode not allowed for "bind" type mounts');
  fails("RUN --mount=type=tmpfs,target=/t,uid=1 x", 'uid not allowed for "tmpfs" type mounts');
  fails("RUN --mount=type=bind,target=/t,sharing=shared x", "invalid cache sharing set for bind mount");
  fails("RUN --mount=type=cache,target=/t,sharing=maybe x", 'unsupported sharing value "maybe"');
  fails("RUN --mount=type=cache,target=/t,mode=9 x", "invalid value 9 for mode");
  fails("RUN --mount=type=cache,target=/t,uid=-1 x", "invalid value -1 for uid");
  fails("RUN --mount=type=bind,target=/t,required x", "unexpected key 'required' for mount type 'bind'");
  fails("RUN --mount=type=bind,target=/t,ro=maybe x", "invalid value for ro: maybe");
  fails("RUN --mount=type=secret,from=x,id=a x", "secret mount should not have a from");
  fails("RUN --mount=type=secret,source=a,id=b x", "both source and id can't be set");
  fails("RUN --mount=type=secret x", "invalid secret mount. one of source, target required");
  fails("RUN --mount=type=bind,target=/t,colour=red x", "unexpected key 'colour' in 'colour=red'");
  fails('RUN --mount=type=bind,ta\\"rget=/t x', 'failed to parse csv mounts: bare " in non-quoted-field');
  fails(
    'RUN --mount=type=bind,\\"ta\\"rget=/t x',
    'failed to parse csv mounts: extraneous or missing " in quoted-field',
  );
  fails("RUN --mount= x", "failed to parse csv mounts: EOF");
  assertEquals(one("RUN").kind === "run" && [(one("RUN") as { command: string[] }).command], [[]]);
  fails("RUN --frob x", "unknown flag: frob (allowed: --mount, --network, --security, --device)");
});

Deno.test("parseMount() defaults, deferred $ fields and expansion", () => {
  assertEquals(parseMount("target=/x"), { type: "bind", readOnly: true, target: "/x" });
  assertEquals(parseMount("type=secret,target=/run/x/tok"), {
    type: "secret",
    readOnly: true,
    target: "/run/x/tok",
    id: "tok",
    required: false,
  });
  assertEquals(parseMount("type=secret,id=a"), {
    type: "secret",
    readOnly: true,
    id: "a",
    target: "/run/secrets/a",
    required: false,
  });
  assertEquals(parseMount("type=cache,target=$T"), { type: "cache", readOnly: false });
  assertEquals(parseMount("type=cache,target=$T", (f) => f.replace("$T", "/c")), {
    type: "cache",
    readOnly: false,
    target: "/c",
    id: "/c",
    sharing: "shared",
  });
  assertEquals(parseMount('type=bind,"target=/a,b"').target, "/a,b");
  assertThrows(() => parseMount('type=bind,"target=/a'), MountSyntaxError);
  assertThrows(() => parseMount('"type"x=bind'), MountSyntaxError);
});

Deno.test("HEALTHCHECK options are typed and validated", () => {
  const h = one(
    "HEALTHCHECK --interval=1m30s --timeout=3s --start-period=0s --start-interval=500ms --retries=5 CMD curl -f x",
  );
  assertEquals(h.kind === "healthcheck" && [h.test, h.interval, h.timeout, h.startPeriod, h.startInterval, h.retries], [
    ["CMD-SHELL", "curl -f x"],
    90e9,
    3e9,
    undefined,
    5e8,
    5,
  ]);
  const j = one('HEALTHCHECK cmd ["a", "b"]');
  assertEquals(j.kind === "healthcheck" && j.test, ["CMD", "a", "b"]);
  assertEquals(one("HEALTHCHECK none").kind === "healthcheck" && (one("HEALTHCHECK none") as { test: string[] }).test, [
    "NONE",
  ]);
  fails("HEALTHCHECK", "HEALTHCHECK requires at least one argument");
  fails("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments");
  assertEquals((one("HEALTHCHECK --interval=5s NONE") as { test: string[] }).test, ["NONE"]);
  fails(
    "HEALTHCHECK --bogus NONE",
    "unknown flag: bogus (allowed: --interval, --timeout, --start-period, --start-interval, --retries)",
  );
  fails("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD");
  fails("HEALTHCHECK PING x", 'Unknown type "PING" in HEALTHCHECK (try CMD)');
  fails("HEALTHCHECK --interval=5 CMD x", 'invalid duration for --interval: "5"');
  fails("HEALTHCHECK --timeout=10us CMD x", 'Interval "timeout" cannot be less than 1ms');
  fails("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)");
  fails("HEALTHCHECK --retries=x CMD x", 'invalid value for --retries: "x"');
  fails("HEALTHCHECK --retries=1 --retries=2 CMD x", "duplicate flag specified: retries");
  fails(
    "HEALTHCHECK --start_period=1s CMD x",
    "unknown flag: start_period (allowed: --interval, --timeout, --start-period, --start-interval, --retries)",
  );
});

Deno.test("argument-count and form errors of the other instructions", () => {
  fails("ENV", "ENV requires at least one argument");
  fails("LABEL", "LABEL requires at least one argument");
  fails("ARG", "ARG requires at least one argument");
  fails("USER", "USER requires exactly one argument");
  fails("WORKDIR", "WORKDIR requires exactly one argument");
  fails("STOPSIGNAL", "STOPSIGNAL requires exactly one argument");
  fails("MAINTAINER", "MAINTAINER requires exactly one argument");
  fails("EXPOSE", "EXPOSE requires at least one argument");
  fails("VOLUME", "VOLUME requires at least one argument");
  fails('VOLUME ["/a", ""]', "VOLUME specified can not be an empty string");
  fails("SHELL", "SHELL requires at least one argument");
  fails("SHELL []", "SHELL requires at least one argument");
  fails("SHELL /bin/sh -c", "SHELL requires the arguments to be in JSON form");
  fails("ONBUILD", "ONBUILD requires at least one argument");
  fails("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  fails("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger");
  fails("ONBUILD maintainer x", "MAINTAINER isn't allowed as an ONBUILD trigger");
  const lenient = one("ONBUILD RUN --bogus x");
  assertEquals(lenient.kind === "onbuild" && [lenient.expression, lenient.trigger], ["RUN --bogus x", undefined]);
  fails("ONBUILD --x RUN y", "unknown flag: x");
  for (const k of ["ENV", "LABEL", "ARG", "USER", "WORKDIR", "EXPOSE", "VOLUME", "CMD", "ENTRYPOINT", "SHELL"]) {
    fails(`${k} --x=1 a=b`, "unknown flag: x");
  }
  assertEquals((one("CMD") as { command: string[] }).command, []);
  assertEquals((one("ENTRYPOINT []") as { command: string[] }).command, []);
});

Deno.test("ONBUILD keeps its expression (with heredocs) and a typed trigger", () => {
  const o = one("onbuild   COPY --from=b <<EOF /x\nhello\nEOF");
  if (o.kind !== "onbuild") throw new Error("not onbuild");
  assertEquals(o.expression, "COPY --from=b <<EOF /x\nhello\nEOF");
  assertEquals(o.trigger?.kind === "copy" && [o.trigger.from, o.trigger.sourceContents[0]!.data], ["b", "hello\n"]);
  const node = parseDockerfile(o.expression).nodes[0]!;
  assertEquals(parseInstruction(node).kind, "copy");
});

Deno.test("toStages() attaches descriptions from comments to ARGs and stages, as BuildKit", () => {
  const text =
    "# foo sets foo\nARG foo=bar\n\n# base defines first stage\nFROM busybox AS base\n# this is irrelevant\n" +
    "ARG foo\n# bar defines bar\n# baz is something else\nARG bar baz=123\n";
  const { stages, metaArgs } = toStages(parseDockerfile(text));
  assertEquals(stages[0]!.comment, "defines first stage");
  assertEquals(metaArgs[0]!.args, [{ key: "foo", value: "bar", comment: "sets foo" }]);
  const [a1, a2] = stages[0]!.instructions;
  assertEquals(a1!.kind === "arg" && a1.args, [{ key: "foo" }]);
  assertEquals(a2!.kind === "arg" && a2.args, [
    { key: "bar", comment: "defines bar" },
    { key: "baz", value: "123", comment: "is something else" },
  ]);
});

Deno.test("ENV and LABEL names can not be blank", () => {
  fails("ENV =x", "ENV names can not be blank");
  fails("LABEL a=b =c", "LABEL names can not be blank");
});

Deno.test("COPY in JSON form treats heredoc-looking words as BuildKit does", () => {
  const c = one('COPY ["<<EOF", "/d"]');
  assertEquals(c.kind === "copy" && [c.sources, c.sourceContents], [[], [{
    name: "EOF",
    data: "",
    chomp: false,
    expand: true,
  }]]);
  fails('COPY ["a", "<<EOF"]', "COPY cannot accept a heredoc as a destination");
});
