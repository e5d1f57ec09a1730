# kiln's executor image: the single kiln binary on an empty base, as kaniko's executor image is used.
# Built by kiln itself (scripts/executor-image.sh):
#   bash scripts/binary.sh && deno run -A cli/main.ts build --context . --dockerfile Dockerfile --tar-path out/executor.tar
# Inside the image kiln builds in place (the container's / is the build rootfs), like kaniko; `--sandbox` (needs
# --privileged) runs RUN steps in namespaces instead.
FROM scratch
COPY out/executor-root/ /
ENV PATH=/kiln:/usr/local/bin:/usr/bin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    DOCKER_CONFIG=/kaniko/.docker \
    KILN_RUN_HELPER=/kiln/kiln-run \
    KILN_IN_PLACE=true \
    HOME=/root
WORKDIR /workspace
ENTRYPOINT ["/kiln/executor"]
