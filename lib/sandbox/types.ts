/**
 * Types of kiln's RUN executor: where and how a build step's command runs.
 *
 * @module
 */
import type { Logger } from "../util/mod.ts";

/** Where RUN executes: `sandbox` chroots into a rootfs directory in fresh namespaces; `in-place` runs on `/`. */
export type SandboxMode = "sandbox" | "in-place";

/** Network of a step: `default` and `host` share the host's network; `none` gets a private loopback only. */
export type NetworkMode = "default" | "none" | "host";

/** A user resolved in the image's own /etc/passwd and /etc/group. */
export interface ResolvedUser {
  /** User id. */
  uid: number;
  /** Primary group id. */
  gid: number;
  /** Supplementary group ids (from /etc/group membership; empty when a group was given explicitly). */
  groups: number[];
  /** Home directory from /etc/passwd, else the default home. */
  home: string;
}

/** The user a step runs as. */
export interface StepUser {
  /** User id. */
  uid: number;
  /** Primary group id. */
  gid: number;
  /** Supplementary group ids. */
  groups: number[];
  /** Home directory, used for HOME when the step's env has none (default `/`). */
  home?: string;
}

/** A mount shown at `target` (a path in the image) during one step only. */
export type MountSpec =
  | {
    /** Bind-mount a host path (file or directory). */
    type: "bind";
    /** Absolute host path. */
    source: string;
    /** Absolute path in the image. */
    target: string;
    /** Mount read-only (default false). */
    readonly?: boolean;
  }
  | {
    /** A fresh, empty tmpfs. */
    type: "tmpfs";
    /** Absolute path in the image. */
    target: string;
  };

/** One RUN step. */
export interface RunStep {
  /** Command and arguments; shell form is already wrapped by the caller (e.g. `["/bin/sh", "-c", "…"]`). */
  argv: string[];
  /** Environment as `K=V` strings. PATH gets Docker's default and HOME the user's home when absent. */
  env: string[];
  /** Working directory, absolute in the image; it must exist. */
  cwd: string;
  /** User to run as (see {@linkcode resolveUser}). */
  user: StepUser;
  /** Network (default `default`, i.e. the host's network). */
  network?: NetworkMode;
  /** Extra mounts for this step only (RUN --mount). */
  mounts?: MountSpec[];
  /**
   * `insecure` (`RUN --security=insecure`): no capability limits, seccomp filter or masked /proc paths (the
   * namespaces and pivot_root stay). Default `sandbox`: Docker's default confinement (lib/sandbox/README.md).
   */
  security?: "sandbox" | "insecure";
  /** Receives each line the command writes to stdout (without the newline). Default: logger at info. */
  stdout?: (line: string) => void;
  /** Receives each line the command writes to stderr (without the newline). Default: logger at info. */
  stderr?: (line: string) => void;
  /** Aborting kills every process of the step; `run()` then rejects with an AbortedError. */
  signal?: AbortSignal;
}

/** Outcome of a step that ran. */
export interface RunResult {
  /** Exit status of the command; 128+N when it was killed by signal N. */
  exitCode: number;
  /**
   * Paths kiln created in the rootfs as mount points (or their parents) and kept because the step put something
   * there, e.g. `/etc` in a rootfs that had none when the step wrote `/etc/foo` (image paths); normally empty.
   */
  leftovers: string[];
  /**
   * Directories (relative to the rootfs) whose entries kiln changed for mounts and whose times it restored: only
   * their ctime differs, which a snapshot should disregard (lib/fs `SnapshotDiffOptions.ctimeOnly`).
   */
  restoredDirs?: string[];
}

/** Options of {@linkcode createSandbox}. */
export interface SandboxOptions {
  /** `sandbox` (default) or `in-place`. */
  mode?: SandboxMode;
  /** The rootfs: a directory for `sandbox`, `/` for `in-place`. */
  rootDir: string;
  /** A kiln-owned scratch directory for this build (generated files live in a subdirectory removed by close()). */
  workDir: string;
  /** Logger. */
  logger?: Logger;
  /** Path of the kiln-run helper (default: native/helper/build/kiln-run in this checkout). */
  helperPath?: string;
  /** In-place only: run even when no container is detected. */
  force?: boolean;
  /** In-place only: how to detect a container (env is the process environment, for the `container` variable). */
  detect?: { root?: string; env?: Record<string, string | undefined> };
  /** Hostname inside the sandbox (default `kiln`). */
  hostname?: string;
  /** Host resolv.conf copied into the sandbox (default `/etc/resolv.conf`). */
  hostResolvConf?: string;
  /** Host hosts file copied into the sandbox (default `/etc/hosts`). */
  hostHosts?: string;
}

/** Runs RUN steps against one rootfs. */
export interface Sandbox {
  /** The mode in use. */
  readonly mode: SandboxMode;
  /** The rootfs directory. */
  readonly rootDir: string;
  /**
   * Image paths the snapshotter must ignore for this rootfs. In sandbox mode this is empty: every mount
   * vanishes with the step and mount points kiln created are removed (and their parents' times restored).
   * In in-place mode it is kiln's view of the container's mounts; see {@linkcode defaultIgnoreList}.
   */
  readonly ignorePaths: readonly string[];
  /** Runs one step; steps on one sandbox run one at a time. Setup failures reject with a SandboxError. */
  run(step: RunStep): Promise<RunResult>;
  /**
   * Sets a host path's access and modification times with nanosecond precision (the helper's `--set-times`; JS can
   * only set float seconds), as the sandbox restores the parents of mount points it made. False when it could not.
   */
  setTimes(hostPath: string, atimeNs: bigint, mtimeNs: bigint): Promise<boolean>;
  /** A host path's access and modification times to the nanosecond (the helper's `--get-times`), if it can. */
  getTimes(hostPath: string): Promise<{ atimeNs: bigint; mtimeNs: bigint } | undefined>;
  /** Removes the sandbox's scratch files. */
  close(): Promise<void>;
}
