/**
 * The OCI / Docker v2.2 image model: descriptors, manifests, indexes, configs, and the lazy
 * `Layer` / `Image` / `ImageIndex` interfaces every source (registry, layout, archive, build) implements.
 *
 * @module
 */
import type { Digest, Platform } from "../util/mod.ts";

/** A platform an image runs on (declared in lib/util/platform.ts, the one platform model). */
export type { Platform };

/** A content descriptor. */
export interface Descriptor {
  /** Media type of the referenced content. */
  mediaType: string;
  /** Digest of the exact bytes. */
  digest: Digest;
  /** Size in bytes. */
  size: number;
  /** Annotations. */
  annotations?: Record<string, string>;
  /** Platform (index entries). */
  platform?: Platform;
  /** Alternate download URLs (foreign layers). */
  urls?: string[];
  /** Artifact type. */
  artifactType?: string;
}

/** An image manifest (OCI or Docker v2.2; `mediaType` may be absent, see field-notes: umoci). */
export interface Manifest {
  /** Always 2. */
  schemaVersion: 2;
  /** Manifest media type. */
  mediaType?: string;
  /** Artifact type. */
  artifactType?: string;
  /** Config blob. */
  config: Descriptor;
  /** Layer blobs, base first. */
  layers: Descriptor[];
  /** Subject (referrers). */
  subject?: Descriptor;
  /** Annotations. */
  annotations?: Record<string, string>;
}

/** An image index / manifest list. */
export interface Index {
  /** Always 2. */
  schemaVersion: 2;
  /** Index media type. */
  mediaType?: string;
  /** Entries. */
  manifests: Descriptor[];
  /** Annotations. */
  annotations?: Record<string, string>;
}

/** Healthcheck settings in the container config (durations in nanoseconds). */
export interface HealthConfig {
  /** `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", cmd]`. */
  Test?: string[];
  /** Interval in ns. */
  Interval?: number;
  /** Timeout in ns. */
  Timeout?: number;
  /** Start period in ns. */
  StartPeriod?: number;
  /** Start interval in ns. */
  StartInterval?: number;
  /** Retries. */
  Retries?: number;
}

/** The runtime part of an image config (Docker field names, as in the JSON). */
export interface ContainerConfig {
  /** USER. */
  User?: string;
  /** EXPOSE, keys like `80/tcp`. */
  ExposedPorts?: Record<string, Record<string, never>>;
  /** ENV as `K=V`. */
  Env?: string[];
  /** ENTRYPOINT. */
  Entrypoint?: string[] | null;
  /** CMD. */
  Cmd?: string[] | null;
  /** VOLUME. */
  Volumes?: Record<string, Record<string, never>>;
  /** WORKDIR. */
  WorkingDir?: string;
  /** LABEL. */
  Labels?: Record<string, string>;
  /** STOPSIGNAL. */
  StopSignal?: string;
  /** HEALTHCHECK. */
  Healthcheck?: HealthConfig;
  /** SHELL. */
  Shell?: string[];
  /** ONBUILD triggers. */
  OnBuild?: string[] | null;
  /** Docker's ArgsEscaped (Windows). */
  ArgsEscaped?: boolean;
}

/** One history entry. */
export interface History {
  /** RFC 3339 creation time. */
  created?: string;
  /** The command that made it. */
  created_by?: string;
  /** Author. */
  author?: string;
  /** Comment. */
  comment?: string;
  /** True when the step made no layer. */
  empty_layer?: boolean;
}

/** An image configuration blob (OCI image config; Docker's is a superset). */
export interface ImageConfig {
  /** Architecture. */
  architecture: string;
  /** OS. */
  os: string;
  /** Variant. */
  variant?: string;
  /** OS version. */
  "os.version"?: string;
  /** RFC 3339 creation time. */
  created?: string;
  /** MAINTAINER. */
  author?: string;
  /** Runtime config. */
  config?: ContainerConfig;
  /** Layer diff IDs, base first. */
  rootfs: { type: "layers"; diff_ids: Digest[] };
  /** History, base first. */
  history?: History[];
  /** Unknown fields are kept when round-tripping. */
  [key: string]: unknown;
}

/**
 * A lazy layer. Every accessor may do I/O on first call and memoizes. Streams are fresh per call and
 * must never be buffered whole.
 */
export interface Layer {
  /** Media type of the compressed blob. */
  mediaType(): Promise<string>;
  /** Digest of the compressed blob. */
  digest(): Promise<Digest>;
  /** Digest of the uncompressed tar (the diff ID). */
  diffId(): Promise<Digest>;
  /** Size of the compressed blob. */
  size(): Promise<number>;
  /** A fresh stream of the compressed blob. */
  compressed(): Promise<ReadableStream<Uint8Array>>;
  /** A fresh stream of the uncompressed tar. */
  uncompressed(): Promise<ReadableStream<Uint8Array>>;
  /** Descriptor annotations or URLs to carry into manifests, if any. */
  descriptor?(): Promise<Partial<Descriptor>>;
  /** Where the blob already lives in a registry, for cross-repository mounts when pushing. */
  origin?: { registry: string; repository: string };
  /**
   * A local file holding exactly the compressed blob (a layer kiln wrote and hashed itself), so an upload can hand
   * the file to the runtime's HTTP client instead of streaming it through JavaScript.
   */
  file?: string;
}

/** A lazy image. */
export interface Image {
  /** Media type of the manifest. */
  mediaType(): Promise<string>;
  /** The exact manifest bytes (digests are computed over these). */
  rawManifest(): Promise<Uint8Array>;
  /** The parsed manifest. */
  manifest(): Promise<Manifest>;
  /** Digest of the manifest bytes. */
  digest(): Promise<Digest>;
  /** The exact config bytes. */
  rawConfig(): Promise<Uint8Array>;
  /** The parsed config. */
  config(): Promise<ImageConfig>;
  /** Layers, base first. */
  layers(): Promise<Layer[]>;
}

/** A lazy image index. */
export interface ImageIndex {
  /** Media type of the index. */
  mediaType(): Promise<string>;
  /** The exact index bytes. */
  rawManifest(): Promise<Uint8Array>;
  /** The parsed index. */
  manifest(): Promise<Index>;
  /** Digest of the index bytes. */
  digest(): Promise<Digest>;
  /** The child image with this digest. */
  image(digest: Digest): Promise<Image>;
  /** The child index with this digest. */
  index(digest: Digest): Promise<ImageIndex>;
}
