mkdir -p t && printf 'in a remote tar\n' > t/r && tar -cf http/remote.tar -C t r && rm -rf t
