/**
 * The keyserver service the tests run the HTTP face on.
 */
import type { KeyserverService, SubmitReport } from '../../src/hkp/index.js';
import { InputError } from '../../src/errors.js';
import { dearmor } from '../../src/openpgp/armor.js';
import { type Cert, readCerts } from '../../src/openpgp/cert.js';
import type { Store } from '../../src/store/index.js';

export async function openService(store: Store): Promise<KeyserverService> {
  return {
    store,
    async submit(input, opts): Promise<SubmitReport> {
      let certs: Cert[];
      try {
        certs = readCerts(dearmor(input)).certs;
      } catch (err) {
        throw new InputError('MS_KS_UNPARSEABLE', 'unparseable', { cause: err });
      }
      if (certs.length === 0) throw new InputError('MS_KS_UNPARSEABLE', 'no certificate in the upload');
      const report: SubmitReport = { certs: [] };
      for (const c of certs) {
        const r = await store.certs.put(c, opts.now);
        report.certs.push({ fpr: r.fpr, status: r.status, userIds: r.cert.users.map((u) => u.text), kept: { userIds: 0, subkeys: 0, certifications: 0 }, held: 0, released: 0, dropped: {} });
      }
      return report;
    },
  };
}
