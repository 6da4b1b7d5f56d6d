// The service's certificate: read from PEM files at start and again on SIGHUP. One loader for
// both, so a file that would be refused at start is refused on reload, with the same reason.
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import { describeError } from '../open/describe-error.js'

/** A certificate and its private key, checked to belong together. */
export interface TlsFiles {
  readonly cert: Buffer
  readonly key: Buffer
  /** The leaf certificate's subject and expiry, for logs. */
  readonly subject: string
  readonly validTo: Date
}

/** Why a certificate or key file cannot be used; `setting` is `tlsCert` or `tlsKey`. */
export class TlsFileError extends Error {
  constructor(
    readonly setting: 'tlsCert' | 'tlsKey',
    message: string,
  ) {
    super(message)
    this.name = 'TlsFileError'
  }
}

function read(setting: 'tlsCert' | 'tlsKey', file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    throw new TlsFileError(setting, `${file} cannot be read: ${describeError(error)}`)
  }
}

/**
 * Reads and checks a PEM certificate (chain) and its private key.
 *
 * @throws TlsFileError naming the file and what is wrong with it
 */
export function loadTlsFiles(certFile: string, keyFile: string): TlsFiles {
  const cert = read('tlsCert', certFile)
  const key = read('tlsKey', keyFile)
  let leaf: X509Certificate
  try {
    leaf = new X509Certificate(cert)
  } catch {
    throw new TlsFileError(
      'tlsCert',
      `${certFile} is not a PEM certificate (it should begin with -----BEGIN CERTIFICATE-----)`,
    )
  }
  try {
    createPrivateKey(key)
  } catch {
    // the message of a key parse error may quote the file; say what was expected instead
    throw new TlsFileError(
      'tlsKey',
      `${keyFile} is not an unencrypted PEM private key (it should begin with -----BEGIN PRIVATE KEY-----)`,
    )
  }
  try {
    createSecureContext({ cert, key })
  } catch (error) {
    throw new TlsFileError(
      'tlsKey',
      `${keyFile} does not match the certificate ${certFile} (${describeError(error)})`,
    )
  }
  return { cert, key, subject: leaf.subject.replace(/\n/g, ', '), validTo: new Date(leaf.validTo) }
}
