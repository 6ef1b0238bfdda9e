FROM localhost:5000/busybox
RUN --mount=type=secret,id=token,required=maybe true
