// A real tus client (tus-js-client, written by others) that the end-to-end tests and the benchmark drive against
// `videoflix serve`. It uploads one file with a staff session's cookies and X-CSRFToken, in chunks of a chosen
// size, and reports what happens as JSON lines on stdout:
//
//   {"event": "start"}                               about to send the first request (node has started)
//   {"event": "url", "url": ...}                    the upload's URL, once the server created it
//   {"event": "progress", "sent": n, "total": t}    bytes written to the socket (at most one line per MiB)
//   {"event": "chunk", "accepted": n, "total": t}   bytes the server confirmed (Upload-Offset)
//   {"event": "stopped", "url": ..., "accepted": n} --stop-after: gave up on purpose (a closed laptop)
//   {"event": "success", "url": ..., "videoId": n}  the last byte arrived; the video's id from the Video-Id header
//   {"event": "error", "message": ..., "status": n} failed for good (exit code 1)
//
// Usage:
//   node upload.js --endpoint http://127.0.0.1:8000/api/admin/uploads/ --file clip.mp4 \
//     --cookie 'access_token=...; csrftoken=...' --csrf <csrftoken> --chunk-size 1048576 \
//     --title T --category C [--description D] [--stop-after BYTES] [--url-storage FILE] [--resume] \
//     [--retry-delays 0,500,1000]
//
// --url-storage keeps the upload's URL in a file (tus-js-client's FileUrlStorage), so a later run with --resume
// finds it (findPreviousUploads) and goes on where the stored upload stopped (resumeFromPreviousUpload).

import { createReadStream, existsSync, statSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'
import { parseArgs } from 'node:util'

import { FileUrlStorage, Upload } from 'tus-js-client'

const { values: args } = parseArgs({
  options: {
    endpoint: { type: 'string' },
    file: { type: 'string' },
    cookie: { type: 'string', default: '' },
    csrf: { type: 'string', default: '' },
    'chunk-size': { type: 'string', default: String(8 * 1024 * 1024) },
    title: { type: 'string', default: 'Uploaded with tus' },
    category: { type: 'string', default: 'Tests' },
    description: { type: 'string', default: '' },
    'stop-after': { type: 'string' },
    'url-storage': { type: 'string' },
    resume: { type: 'boolean', default: false },
    'retry-delays': { type: 'string', default: '0,500,1000,2000,4000,8000,16000' },
  },
})

function report(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`)
}

const total = statSync(args.file).size
const stopAfter = args['stop-after'] === undefined ? null : Number(args['stop-after'])
let lastProgressLine = -1

const options = {
  endpoint: args.endpoint,
  chunkSize: Number(args['chunk-size']),
  retryDelays: args['retry-delays'].split(',').map(Number),
  metadata: {
    filename: basename(args.file),
    title: args.title,
    category: args.category,
    description: args.description,
  },
  headers: { Cookie: args.cookie, 'X-CSRFToken': args.csrf },
  onUploadUrlAvailable() {
    report({ event: 'url', url: upload.url })
  },
  onProgress(sent, bytesTotal) {
    const mib = Math.floor(sent / (1024 * 1024))
    if (mib !== lastProgressLine) {
      lastProgressLine = mib
      report({ event: 'progress', sent, total: bytesTotal })
    }
  },
  onChunkComplete(_size, accepted, bytesTotal) {
    report({ event: 'chunk', accepted, total: bytesTotal })
    if (stopAfter !== null && accepted >= stopAfter && accepted < bytesTotal) {
      upload.abort().then(() => {
        report({ event: 'stopped', url: upload.url, accepted })
        process.exit(0)
      })
    }
  },
  onSuccess({ lastResponse }) {
    const videoId = lastResponse?.getHeader('Video-Id')
    report({ event: 'success', url: upload.url, videoId: videoId ? Number(videoId) : null })
    process.exit(0)
  },
  onError(error) {
    const status = error.originalResponse ? error.originalResponse.getStatus() : null
    const body = error.originalResponse ? error.originalResponse.getBody() : null
    report({ event: 'error', message: String(error.message || error), status, body })
    process.exit(1)
  },
}

if (args['url-storage']) {
  if (!existsSync(args['url-storage'])) writeFileSync(args['url-storage'], '{}')
  options.urlStorage = new FileUrlStorage(args['url-storage'])
  options.storeFingerprintForResuming = true
  options.removeFingerprintOnSuccess = true
}

// A file stream: tus-js-client reads the chunks from disk as it needs them (memory stays flat).
const upload = new Upload(createReadStream(args.file), { ...options, uploadSize: total })

if (args.resume) {
  const previous = await upload.findPreviousUploads()
  if (previous.length === 0) {
    report({ event: 'error', message: 'no previous upload of this file was stored', status: null, body: null })
    process.exit(1)
  }
  upload.resumeFromPreviousUpload(previous[0])
}
report({ event: 'start' })
upload.start()
