import { errorInfo, SdlError } from '../errors.js';
import { StepError } from '../machines/committer.js';
import { mongoErrorInfo } from '../mongo/errors.js';

/**
 * Runs one MongoDB step and turns its failure into a classified StepError the machines can
 * branch on: transient (retry forever with backoff) or permanent (stop with the message).
 */
export async function mongoStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof StepError) throw err;
    if (err instanceof SdlError) throw new StepError(errorInfo(err, () => ({ code: 'UNEXPECTED', errorClass: 'permanent', message: err.message })));
    throw new StepError(mongoErrorInfo(err));
  }
}
