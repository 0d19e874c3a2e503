"""The 8 KiB pages that differ between two copies of a data directory's base/ (BEFORE AFTER):
prints how many, and the size zstd -1 makes of them alone (the floor of what any page-level
incremental of that change can store). Used by bench/greenplum/run.sh."""
import os
import subprocess
import sys
import threading

before, after = sys.argv[1:3]
z = subprocess.Popen(["zstd", "-1", "-c", "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
size = [0]


def count():
    for chunk in iter(lambda: z.stdout.read(1 << 20), b""):
        size[0] += len(chunk)


reader = threading.Thread(target=count)
reader.start()
pages = 0
for root, _, files in os.walk(after):
    for f in files:
        a = os.path.join(root, f)
        b = os.path.join(before, os.path.relpath(a, after))
        with open(a, "rb") as fa, open(b if os.path.exists(b) else os.devnull, "rb") as fb:
            while True:
                pa, pb = fa.read(8192), fb.read(8192)
                if not pa:
                    break
                if pa != pb:
                    z.stdin.write(pa)
                    pages += 1
z.stdin.close()
reader.join()
z.wait()
print(pages, size[0])
