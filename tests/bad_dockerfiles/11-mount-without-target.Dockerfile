FROM localhost:5000/busybox
RUN --mount=type=cache true
