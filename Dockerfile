# kiln's executor images, built by kiln itself (`npm run executor-image`, scripts/executor-image.sh), laid out as
# kaniko's: everything they ship is under /kaniko (see scripts/binary.sh), `/kaniko/executor` is the entrypoint and
# /workspace the default context. Inside them kiln builds in place (the container's / is the build's rootfs), like
# kaniko; `--sandbox` (needs --privileged) runs RUN steps in namespaces instead.
#
#   --target executor   kiln/executor:latest   (kaniko's gcr.io/kaniko-project/executor)
#   --target debug      kiln/executor:debug    the same plus a static busybox in /busybox (GitLab CI's recipe)
#   --target warmer     kiln/warmer:latest     /kaniko/warmer, kaniko's warmer (`kiln warm`)
FROM scratch AS executor
COPY out/executor-root/ /
ENV PATH=/usr/local/bin:/kaniko \
    HOME=/root \
    USER=root \
    SSL_CERT_DIR=/kaniko/ssl/certs \
    DOCKER_CONFIG=/kaniko/.docker/ \
    LD_LIBRARY_PATH=/kaniko/lib \
    TMPDIR=/kaniko/tmp \
    KILN_RUN_HELPER=/kaniko/kiln-run \
    KILN_NATIVE_ADDON=/kaniko/kiln_native.node \
    KILN_IN_PLACE=true
WORKDIR /workspace
ENTRYPOINT ["/kaniko/executor"]

FROM executor AS debug
COPY out/busybox-root/ /busybox/
ENV PATH=/usr/local/bin:/kaniko:/busybox

FROM executor AS warmer
ENTRYPOINT ["/kaniko/warmer"]
