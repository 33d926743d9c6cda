// Which architecture an app's image is for. Debian's base image is published for several, and a
// build takes the builder's: that is only a problem for compiled distributions vendored with
// `vendor --allow-binary` (SPEC 5.9), which load on the architecture they were built for alone.
// So an image holding them is pinned (FROM --platform) to the architecture the export judged
// them for: the exporting host's `uname -m`, named on stderr and in the recipe, since the
// export cannot know where the image will be built.
import os from 'node:os';

export interface ImageArchitecture {
  /** As `uname -m` and wheel platform tags name it: x86_64, aarch64. */
  machine: string;
  /** The OCI platform of Debian's image for it (linux/amd64), or null when it publishes none. */
  platform: string | null;
}

/** `uname -m` -> the platform Debian's official image is published for (docker.io/library/debian). */
const DEBIAN_PLATFORMS: Record<string, string> = {
  x86_64: 'linux/amd64',
  aarch64: 'linux/arm64',
  armv7l: 'linux/arm/v7',
  i686: 'linux/386',
  ppc64le: 'linux/ppc64le',
  s390x: 'linux/s390x',
  riscv64: 'linux/riscv64',
  mips64: 'linux/mips64le',
};

/** The image's architecture: this host's, which `podman build` here would take. */
export function imageArchitecture(): ImageArchitecture {
  const machine = os.machine();
  return { machine, platform: DEBIAN_PLATFORMS[machine] ?? null };
}

/**
 * kubernetes.io/arch of a node that runs the image (amd64 for x86_64, arm64 for aarch64): Go's
 * GOARCH, which is also the OCI platform's architecture. Null for a machine Debian publishes no
 * image for.
 */
export function kubernetesArch(arch: ImageArchitecture): string | null {
  return arch.platform?.split('/')[1] ?? null;
}

/** PEP 425/600 platform tags for Linux: linux_ARCH, manylinux1_ARCH, manylinux_2_17_ARCH, musllinux_1_2_ARCH. */
const LINUX_PLATFORM = /^(?:linux|manylinux(?:1|2010|2014)|manylinux_\d+_\d+|musllinux_\d+_\d+)_(.+)$/;

/**
 * What each platform of a wheel tag (`cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64`)
 * is built for: the architecture of a Linux one, the platform itself for any other
 * (`macosx_11_0_arm64`, `win_amd64`); none for `any`.
 */
export function tagArchitectures(tag: string): string[] {
  const platforms = (tag.split('-')[2] ?? '').split('.').filter((p) => p !== '' && p !== 'any');
  return platforms.map((p) => LINUX_PLATFORM.exec(p)?.[1] ?? p);
}

/** Whether a wheel of `tags` can run on `machine`: one of its platforms is `any` or Linux on that architecture. */
export function loadsOn(tags: string[], machine: string): boolean {
  return tags.some((tag) => {
    const archs = tagArchitectures(tag);
    return archs.length === 0 || archs.includes(machine);
  });
}
