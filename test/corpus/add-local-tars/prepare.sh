# Runs in a scratch copy of the context before both builds.
set -e
mkdir -p t/dir t/empty
echo one > t/dir/one
echo two > t/two
ln -s dir/one t/link
ln t/two t/hard
chmod 0750 t/dir
tar -C t --owner=1000 --group=50 --mtime=@1600000000 -cf plain.tar .
tar -C t --owner=1000 --group=50 --mtime=@1600000000 -czf gz.tar.gz .
tar -C t --owner=1000 --group=50 --mtime=@1600000000 -cjf bz.tbz2 .
tar -C t --owner=1000 --group=50 --mtime=@1600000000 -cJf xz.tar.xz .
echo "just text" | gzip -n > not-a-tar.gz
rm -rf t
