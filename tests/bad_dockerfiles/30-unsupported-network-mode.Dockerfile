FROM localhost:5000/busybox
RUN --network=bridge true
