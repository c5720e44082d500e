/* The studio's BPMN modeler bundle (built by tools/vendor.sh with esbuild into web/static/vendor):
 * bpmn-js's Modeler, the properties panel with the plain BPMN provider, jichi's own properties and the
 * Japanese translation of the whole user interface. Exposed as the global `JichiModeler`. */
import BpmnModeler from 'bpmn-js/lib/Modeler';
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from 'bpmn-js-properties-panel';
import JichiPropertiesProvider from './jichi-properties.js';
import translations from './translations-ja.js';

function translate(template, replacements) {
  const text = Object.prototype.hasOwnProperty.call(translations, template) ? translations[template] : template;
  return text.replace(/{([^}]+)}/g, (whole, key) =>
    replacements && Object.prototype.hasOwnProperty.call(replacements, key) ? String(replacements[key]) : whole);
}

const JapaneseModule = { translate: ['value', translate] };
const JichiPropertiesModule = {
  __init__: ['jichiPropertiesProvider'],
  jichiPropertiesProvider: ['type', JichiPropertiesProvider]
};

export function createModeler(options) {
  return new BpmnModeler({
    ...options,
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, JichiPropertiesModule,
      JapaneseModule]
  });
}

export { translate, translations };
