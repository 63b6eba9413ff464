"""Prints one line about the modules given on the command line (versions, BLAS, threads); exits 1 if one is missing."""
import sys

parts = [f"python {sys.version.split()[0]} ({sys.executable})"]
for name in sys.argv[1:]:
    mod = __import__(name)
    if name == "numpy":
        blas = "?"
        try:
            cfg = mod.show_config(mode="dicts")  # numpy >= 1.25
            blas = cfg["Build Dependencies"]["blas"]["name"]
        except Exception:
            # Debian's numpy links the system libblas.so.3: name the library the alternatives point at
            import os
            for lib in ("/usr/lib/x86_64-linux-gnu/libblas.so.3", "/usr/lib/aarch64-linux-gnu/libblas.so.3"):
                if os.path.exists(lib):
                    blas = os.path.realpath(lib)
                    break
        parts.append(f"numpy {mod.__version__} (BLAS {blas})")
    elif name == "torch":
        parts.append(f"torch {mod.__version__} (intra-op threads {mod.get_num_threads()})")
    else:
        parts.append(f"{name} {getattr(mod, '__version__', '?')}")
print("; ".join(parts))
