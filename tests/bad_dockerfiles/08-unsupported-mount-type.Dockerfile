FROM localhost:5000/busybox
RUN --mount=type=volume,target=/data true
