/* jichi's own group in the properties panel: what the engine executes, written in the jichi DSL.
 *
 * - a sequence flow leaving an exclusive or inclusive gateway: its condition (bpmn:conditionExpression);
 * - a script task: its script (`名前 := 式`, one assignment per line);
 * - the process: the hook it implements (jichi:hook, the name the core declares, e.g. 「転入.記載後」).
 *
 * The values are only text here. The server checks them with `jichi check` when the analyst checks or saves;
 * nothing typed here is run in the browser or on the server as code.
 */
import { TextAreaEntry, TextFieldEntry, isTextAreaEntryEdited, isTextFieldEntryEdited, Group }
  from '@bpmn-io/properties-panel';
import { useService } from 'bpmn-js-properties-panel';
import { is, isAny, getBusinessObject } from 'bpmn-js/lib/util/ModelUtil';

function isConditional(element) {
  return is(element, 'bpmn:SequenceFlow') && element.source &&
    isAny(element.source, ['bpmn:ExclusiveGateway', 'bpmn:InclusiveGateway']);
}

function isDefaultFlow(element) {
  const source = element.source && getBusinessObject(element.source);
  return !!(source && source.default === getBusinessObject(element));
}

function Condition(props) {
  const { element } = props;
  const modeling = useService('modeling');
  const bpmnFactory = useService('bpmnFactory');
  const debounce = useService('debounceInput');
  const defaultFlow = isDefaultFlow(element);
  return TextAreaEntry({
    element,
    id: 'jichiCondition',
    label: '条件式（jichi の DSL）',
    description: defaultFlow ? 'デフォルトフローには条件を書きません。'
      : '例: 世帯員数 >= 2、判断 = 「差戻し」',
    disabled: defaultFlow,
    debounce,
    monospace: true,
    autoResize: true,
    getValue: (el) => {
      const expression = getBusinessObject(el).conditionExpression;
      return expression ? expression.body || '' : '';
    },
    setValue: (value) => {
      const text = (value || '').trim();
      modeling.updateProperties(element, {
        conditionExpression: text ? bpmnFactory.create('bpmn:FormalExpression', { body: text }) : undefined
      });
    }
  });
}

function Script(props) {
  const { element } = props;
  const modeling = useService('modeling');
  const debounce = useService('debounceInput');
  return TextAreaEntry({
    element,
    id: 'jichiScript',
    label: 'スクリプト（jichi の DSL）',
    description: '1 行に一つ「名前 := 式」と書きます。Python や JavaScript は実行しません。',
    debounce,
    monospace: true,
    autoResize: true,
    rows: 3,
    getValue: (el) => getBusinessObject(el).script || '',
    setValue: (value) => modeling.updateProperties(element, { script: value || undefined })
  });
}

function Hook(props) {
  const { element } = props;
  const modeling = useService('modeling');
  const debounce = useService('debounceInput');
  return TextFieldEntry({
    element,
    id: 'jichiHook',
    label: 'フック（jichi:hook）',
    description: 'このプロセスを取り付ける core のフックの名前（例: 転入.記載後）。パック独自の手続きなら空にします。',
    debounce,
    getValue: (el) => getBusinessObject(el).get('jichi:hook') || '',
    setValue: (value) => {
      const text = (value || '').trim();
      modeling.updateProperties(element, { 'jichi:hook': text || undefined });
    }
  });
}

function entries(element) {
  if (isConditional(element)) {
    return [{ id: 'jichiCondition', component: Condition, isEdited: isTextAreaEntryEdited }];
  }
  if (is(element, 'bpmn:ScriptTask')) {
    return [{ id: 'jichiScript', component: Script, isEdited: isTextAreaEntryEdited }];
  }
  if (is(element, 'bpmn:Process')) {
    return [{ id: 'jichiHook', component: Hook, isEdited: isTextFieldEntryEdited }];
  }
  return [];
}

export default function JichiPropertiesProvider(propertiesPanel) {
  this.getGroups = function (element) {
    return function (groups) {
      const own = entries(element);
      if (own.length) {
        groups.splice(1, 0, { id: 'jichi', label: 'jichi（実行される内容）', entries: own, component: Group });
      }
      return groups;
    };
  };
  propertiesPanel.registerProvider(400, this);  // after getGroups exists: the panel checks for it
}
JichiPropertiesProvider.$inject = ['propertiesPanel'];
