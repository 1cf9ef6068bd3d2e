import { describeCause, TerrariumError } from '../errors.js';

/** What the SDK reports as a refusal of the credentials or of the bucket policy. */
const AUTH_ERRORS = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'ExpiredToken',
  'InvalidToken',
  'CredentialsProviderError',
  'AuthorizationHeaderMalformed',
]);

type SdkError = Error & { $metadata?: { httpStatusCode?: number; attempts?: number }; Code?: string };

/** The HTTP status the SDK saw for a failed request (412 and 409 matter for conditional writes). */
export const statusOf = (error: unknown): number | undefined => (error as SdkError).$metadata?.httpStatusCode;

export function isNotFound(error: unknown): boolean {
  const e = error as SdkError;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || (e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket');
}

/** One clear error per cause, naming the bucket and object; never the credentials (the reporter masks them too). */
export function s3Failure(options: { bucket: string; endpoint: string | undefined }, action: string, name: string, error: unknown): TerrariumError {
  const e = error as SdkError;
  const where = `s3://${options.bucket}/${name}`;
  const endpoint = options.endpoint ? ` at ${options.endpoint}` : '';
  if (e.name === 'NoSuchBucket') {
    return new TerrariumError('STORAGE_NO_BUCKET', `bucket ${options.bucket} does not exist${endpoint}`, {
      hint: 'check --s3-bucket, and --s3-region or --s3-endpoint',
      cause: error,
    });
  }
  // The SDK's credential chain found nothing: no request was sent, so nothing was denied.
  if (e.name === 'CredentialsProviderError') {
    return new TerrariumError('STORAGE_AUTH', `cannot ${action} ${where}${endpoint}: no S3 credentials found`, {
      hint: 'set S3_ACCESS_KEY and S3_SECRET_KEY, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE) or an instance role',
      cause: error,
    });
  }
  const status = e.$metadata?.httpStatusCode;
  if (AUTH_ERRORS.has(e.name) || status === 401 || status === 403) {
    return new TerrariumError('STORAGE_AUTH', `cannot ${action} ${where}${endpoint}: access denied (${e.name})`, {
      hint: 'check --s3-access-key and --s3-secret-key (or the AWS credential chain) and what the bucket policy allows',
      cause: error,
    });
  }
  const attempts = e.$metadata?.attempts;
  return new TerrariumError(
    'STORAGE_UNREACHABLE',
    `cannot ${action} ${where}${endpoint}${attempts ? ` after ${attempts} attempts` : ''}: ${describeCause(error)}`,
    {
      hint: 'check the network and --s3-endpoint; raise --s3-max-retries or --s3-timeout for a slow link',
      cause: error,
    },
  );
}
