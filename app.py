"""SpikEmo's Gradio app (the Hugging Face Spaces entry point).

    python app.py [--checkpoint FOLDER] [--data-dir FOLDER] [--host 0.0.0.0] [--port 7860]

The checkpoint folder may also come from $SPIKEMO_CHECKPOINT (default: the shipped MELD checkpoint).
"""

import argparse

from demo import AppConfig, build_demo, configure_logging, launch
from spikemo.video.diarization import DIARIZATION_METHODS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the SpikEmo app.")
    parser.add_argument("--checkpoint", help="checkpoint folder (default: $SPIKEMO_CHECKPOINT or the shipped one)")
    parser.add_argument("--data-dir", help="folder of MELD-format CSVs for 'Inspect errors' (default: data/meld)")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    parser.add_argument("--diarizer", choices=DIARIZATION_METHODS,
                        help="who speaks when: timeline (default, offline), pyannote (pyannote.audio and $HF_TOKEN), "
                             "words (the earlier turns); also $SPIKEMO_DIARIZER")
    parser.add_argument("--host", help="address to listen on (default: Gradio's, 127.0.0.1; Spaces sets its own)")
    parser.add_argument("--port", type=int, help="port (default: Gradio's, 7860)")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    configure_logging()
    settings = {"checkpoint_dir": args.checkpoint, "device": args.device}
    if args.data_dir:
        settings["data_dir"] = args.data_dir
    if args.diarizer:
        settings["diarizer"] = args.diarizer
    launch(build_demo(AppConfig(**settings)), host=args.host, port=args.port)
else:  # imported by Spaces' or Gradio's reloader: expose the Blocks as `demo`
    demo = build_demo()
