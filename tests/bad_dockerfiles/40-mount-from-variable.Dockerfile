ARG SRC=base
FROM localhost:5000/busybox
RUN --mount=type=bind,from=$SRC,target=/s true
