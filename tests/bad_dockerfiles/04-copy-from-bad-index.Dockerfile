FROM localhost:5000/busybox
COPY --from=7 /etc/passwd /p
