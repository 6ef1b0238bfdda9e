FROM localhost:5000/busybox
RUN --chown=1000 true
