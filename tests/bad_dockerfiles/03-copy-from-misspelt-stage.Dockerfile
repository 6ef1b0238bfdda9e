FROM localhost:5000/busybox AS builder
RUN echo built > /out

FROM scratch
COPY --from=buidler /out /out
