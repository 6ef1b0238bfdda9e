mkdir -p t/in && printf 'tarred\n' > t/in/file && tar -cf a.tar -C t in && rm -rf t
