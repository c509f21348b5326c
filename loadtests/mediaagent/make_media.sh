#!/usr/bin/env bash
# Pre-encoded media for the Go media agent (loadtests/mediaagent): VP8 in IVF at 180p, 360p,
# 540p and 720p (the lower two are the simulcast layers LiveKit's presets put under 540p and
# 720p), and Opus in OGG. One source feeds every size, so the layers' keyframes line up (every
# 2 s, which bounds how long a subscriber waits for one: a file cannot answer a PLI). Each
# frame shows its number, so a decoding viewer can check continuity; noise makes the encoder
# spend its bitrate as a camera does (a flat picture encodes to a few kbps).
#   make_media.sh OUT_DIR      (scripts/setup.sh: OUT_DIR=.tools/media)
set -euo pipefail
out="$1"
SECONDS_LONG=10   # looped by the agent; short keeps setup fast
FPS=25
mkdir -p "$out"
tmp="$(mktemp -d "$out/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

font=/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf
src="testsrc2=size=1280x720:rate=$FPS:duration=$SECONDS_LONG,noise=alls=10:allf=t,"
src+="drawtext=fontfile=$font:text='%{frame_num}':start_number=1:fontsize=96:fontcolor=white:box=1:boxcolor=black:x=40:y=40"
vp8=(-c:v libvpx -deadline realtime -cpu-used 8 -g 50 -keyint_min 50 -auto-alt-ref 0 -lag-in-frames 0 -error-resilient 1 -f ivf)
# name width height kbps
layers=("180p 320 180 160" "360p 640 360 450" "540p 960 540 800" "720p 1280 720 1700")
args=() split="" maps=()
for i in "${!layers[@]}"; do
  read -r name w h kbps <<<"${layers[$i]}"
  split+="[v$i]"
  maps+=("[s$i]")
  args+=(-map "[s$i]" "${vp8[@]}" -b:v "${kbps}k" -minrate "${kbps}k" -maxrate "${kbps}k" "$tmp/vp8-$name.ivf")
done
graph="$src,split=${#layers[@]}$split"
for i in "${!layers[@]}"; do
  read -r name w h kbps <<<"${layers[$i]}"
  graph+=";[v$i]scale=$w:$h[s$i]"
done
ffmpeg -hide_banner -loglevel error -y -filter_complex "$graph" "${args[@]}"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$SECONDS_LONG" \
  -c:a libopus -b:a 32k -frame_duration 20 -page_duration 20000 -ac 1 "$tmp/opus.ogg"
mv "$tmp"/* "$out/"
