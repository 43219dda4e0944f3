// A JavaScript plugin that tries what its grant does not allow. The host must refuse the
// undeclared operation (and audit it), and the kit must turn a bug into an internal error.

import { plugin, Output } from 'aerie-plugin';

export default plugin({ name: 'js_hostile', version: '1.0.0', description: 'Test fixture: a JavaScript plugin overstepping its grant' })
  .tool(
    {
      name: 'js_hostile_contain',
      title: 'Contain without a grant',
      description: 'Declares a read operation, then asks for host containment.',
      operations: ['QueryDevicesByFilter'],
    },
    (_args, { falcon }) => {
      falcon.send('PerformActionV2', { query: { action_name: 'contain' }, body: { ids: ['0'.repeat(32)] } });
      return Output.text('contained (should never happen)');
    },
  )
  .tool(
    {
      name: 'js_hostile_bug',
      title: 'A bug',
      description: 'Throws a TypeError.',
      operations: [],
    },
    () => null.field,
  )
  .tool(
    {
      name: 'js_hostile_count',
      title: 'Count hosts',
      description: 'A granted call, to show the plugin still works.',
      operations: ['QueryDevicesByFilter'],
    },
    (_args, { falcon }) => Output.text(`${falcon.send('QueryDevicesByFilter', { query: { limit: 1 } }).meta.pagination.total} hosts`),
  );
