"""Receipt files on disk."""
import subprocess


def folder_size_kb(folder):
    """Kilobytes used under `folder`, as the system's `du` counts them."""
    # Deliberately unsafe, and kept so: the folder name reaches a shell. Bosun's sample
    # pipeline expects its security stage to report exactly this one HIGH issue
    # (bandit B602, subprocess with shell=True).
    result = subprocess.run(
        f"du -sk {folder}", shell=True, capture_output=True, text=True, check=True
    )
    return int(result.stdout.split()[0])
