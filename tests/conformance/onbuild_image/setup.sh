# The base image with ONBUILD triggers must come from a registry: built
# and pushed here with BuildKit's own frontend, for the case's platforms.
mkdir -p /tmp/conformance-onbuild-base.$$ && cd /tmp/conformance-onbuild-base.$$
cat > Dockerfile <<'END'
FROM localhost:5000/busybox:latest
ONBUILD RUN echo triggered > /triggered.txt
ONBUILD LABEL from.trigger=yes
ONBUILD COPY ctx.txt /ctx.txt
ONBUILD ENV FROM_TRIGGER=1
LABEL base.label=kept
END
"$CROSSBUILD" build --progress quiet --reference-frontend --platform "$CONFORMANCE_PLATFORMS" \
    -t localhost:5000/conformance-onbuild-base:latest --push . >/dev/null
cd / && rm -rf /tmp/conformance-onbuild-base.$$
