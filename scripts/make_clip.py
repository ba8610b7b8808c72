"""A test clip from real images: each image shown for a few frames, scaled up, slowly panning.

    python scripts/make_clip.py FOLDER OUT.mp4 [--images 40] [--size 256]
"""

import argparse

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("output")
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--frames-per-image", type=int, default=10)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import cv2

    from keras_saliency.deployment.export import sample_images

    images = sample_images(args.folder, args.size + 32, args.images, args.seed)
    writer = cv2.VideoWriter(args.output, cv2.VideoWriter_fourcc(*"mp4v"), 25, (args.size, args.size))
    for image in images:
        for t in range(args.frames_per_image):
            shift = int(32 * t / args.frames_per_image)
            writer.write(cv2.cvtColor(np.ascontiguousarray(image[shift : shift + args.size, shift : shift + args.size]), cv2.COLOR_RGB2BGR))
    writer.release()
    print(f"{args.images * args.frames_per_image} frames -> {args.output}")


if __name__ == "__main__":
    main()
