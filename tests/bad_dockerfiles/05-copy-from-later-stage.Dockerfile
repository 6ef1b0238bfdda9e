FROM localhost:5000/busybox AS first
COPY --from=second /etc/passwd /p

FROM localhost:5000/busybox AS second

FROM scratch
COPY --from=first /p /p
