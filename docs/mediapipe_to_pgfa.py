"""Turn a video into MediaPipe Pose world landmarks that pgfa reads (``pgfa predict RUN out.json``).

Run it where MediaPipe and OpenCV are installed (pgfa itself needs neither)::

    pip install mediapipe opencv-python
    python docs/mediapipe_to_pgfa.py video.mp4 video_pose.json       # or .csv

It writes one entry per video frame: the 33 world landmarks (metres, origin
between the hips, x right, y down, z away from the camera, as MediaPipe
gives them) with visibility, and the frame's time in seconds; a frame with
nobody found is ``null`` (JSON) or an empty row (CSV). pgfa turns the axes to
y up, maps the points to the NTU 25-joint layout (``pgfa layouts
mediapipe_pose_33``) and resamples to 30 Hz by these times. This uses
MediaPipe's ``solutions.pose`` API (one person per frame).
"""
from __future__ import annotations

import csv
import json
import sys

NAMES = ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
         "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
         "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky",
         "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee",
         "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel", "left_foot_index",
         "right_foot_index")


def landmarks_per_frame(video: str):
    """Yield ``(time in seconds, [[x, y, z, visibility]] * 33 or None)`` for every frame of ``video``."""
    import cv2
    import mediapipe as mp

    capture = cv2.VideoCapture(video)
    if not capture.isOpened():
        raise SystemExit(f"{video}: cannot open the video")
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    index = 0
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            result = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            world = result.pose_world_landmarks
            points = None if world is None else [[p.x, p.y, p.z, p.visibility] for p in world.landmark]
            yield index / fps, points
            index += 1
    capture.release()


def main(video: str, out: str) -> None:
    frames = list(landmarks_per_frame(video))
    if out.endswith(".csv"):
        with open(out, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["frame", "time_s"] + [f"{n}_{a}" for n in NAMES for a in ("x", "y", "z", "visibility")])
            for i, (time, points) in enumerate(frames):
                cells = [v for p in points for v in p] if points else [""] * (4 * len(NAMES))
                writer.writerow([i, f"{time:.6f}", *cells])
    else:
        with open(out, "w") as f:
            json.dump({"format": "mediapipe_pose_world", "source": video,
                       "frames": [{"time_s": round(t, 6), "landmarks": p} for t, p in frames]}, f)
    found = sum(p is not None for _, p in frames)
    print(f"{out}: {len(frames)} frames, a person in {found}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python docs/mediapipe_to_pgfa.py VIDEO OUT.json|OUT.csv")
    main(sys.argv[1], sys.argv[2])
