# a comment
RUN echo too early
FROM localhost:5000/busybox
