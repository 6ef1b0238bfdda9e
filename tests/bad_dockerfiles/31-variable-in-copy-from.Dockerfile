ARG STAGE=base
FROM localhost:5000/busybox
COPY --from=$STAGE /a /b
