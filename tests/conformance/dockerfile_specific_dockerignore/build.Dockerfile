# Built with -f build.Dockerfile: build.Dockerfile.dockerignore applies
# (it drops *.log) instead of .dockerignore (which would drop a.txt).
FROM scratch
COPY . /ctx/
