ARG PLATFORM
FROM --platform=$PLATFORM localhost:5000/busybox
