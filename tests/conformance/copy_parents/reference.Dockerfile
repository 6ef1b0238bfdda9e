# What COPY --parents in ./Dockerfile must make, spelled without it:
# BuildKit's built-in frontend has --parents only in its labs channel.
FROM scratch
COPY a/b/c/c.txt /p1/a/b/c/
COPY a/x/x.txt /p1/a/x/
COPY a/b/b.txt /p2/a/b/
COPY a/b/c/c.txt /p2/a/b/c/
COPY a/x/x.txt /p2/a/x/
COPY a/b/c/c.txt /p3/b/c/
COPY a/b /p4/a/b
COPY a/b/b.txt /p5/a/b/
