FROM localhost:5000/busybox
RUN --mount=type=bind,target=/x,colour=blue true
