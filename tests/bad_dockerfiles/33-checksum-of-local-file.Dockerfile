FROM localhost:5000/busybox
ADD --checksum=sha256:0000 a.txt /a
