FROM localhost:5000/busybox
COPY --chmod=999 a.txt /a
