FROM localhost:5000/busybox
ENV ONLY_A_KEY
