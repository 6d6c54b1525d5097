#!/bin/sh
# Regenerates calltrack's built-in prompts (src/media/prompt_builtin.rs embeds them):
# speech from espeak-ng (voices en, ru), converted by sox to 8 kHz mono 16-bit WAV.
# Usage: assets/prompts/make.sh   (needs espeak-ng and sox)
set -eu
cd "$(dirname "$0")"

say() { # say VOICE NAME TEXT
    mkdir -p "$1"
    espeak-ng -v "$1" -s 150 -w "$1/$2.tmp.wav" "$3"
    sox -R "$1/$2.tmp.wav" -r 8000 -c 1 -b 16 -e signed-integer "$1/$2.wav" norm -3
    rm -f "$1/$2.tmp.wav"
}

beep() { # beep VOICE: a 400 ms 1 kHz tone
    mkdir -p "$1"
    sox -R -n -r 8000 -c 1 -b 16 -e signed-integer "$1/beep.wav" synth 0.4 sine 1000 vol 0.5
}

say en menu "Please choose a department from the menu. Press 1 or 2."
say en recorded "This call is recorded."
say en invalid "Sorry, that choice is not valid."
say en voicemail "Please leave a message after the tone."
say en enter_code "Please enter your code."
beep en

say ru menu "Пожалуйста, выберите отдел. Нажмите 1 или 2."
say ru recorded "Этот звонок записывается."
say ru invalid "Извините, такого варианта нет."
say ru voicemail "Пожалуйста, оставьте сообщение после сигнала."
say ru enter_code "Пожалуйста, введите ваш код."
beep ru
