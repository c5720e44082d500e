/* jichi's own groups in the properties panel: what the engine executes, written in the jichi DSL.
 *
 * - a sequence flow leaving an exclusive or inclusive gateway: its condition (bpmn:conditionExpression);
 * - a script task: its script (`名前 := 式`, one assignment per line);
 * - the process: the hook it implements (jichi:hook, the name the core declares, e.g. 「転入.記載後」), and the
 *   data it declares (jichi:data, a list);
 * - a user task: the fields of its form (jichi:field, a list: name, type, label, required, help);
 * - a business rule task: the decision it calls (jichi:decision: name, result, reference date).
 *
 * jichi's extension elements are kept as bpmn-moddle's generic elements (no descriptor: nothing of the file is
 * dropped on a round trip); their attributes are plain properties of those elements.
 *
 * The values are only text here. The server checks them with `jichi check` when the analyst checks or saves;
 * nothing typed here is run in the browser or on the server as code.
 */
import { TextAreaEntry, TextFieldEntry, CheckboxEntry, isTextAreaEntryEdited, isTextFieldEntryEdited,
  isCheckboxEntryEdited, Group, ListGroup } from '@bpmn-io/properties-panel';
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

const JICHI = 'urn:jichi:bpmn:1';
const TYPES_HELP = '整数・金額・割合・日付・期間・文字列・真偽、または規則ファイルの型（列挙・レコード、一覧は「…の一覧」）';
const LIST_WORDS = {
  'Create new list item': '追加', 'List contains {numOfItems} item': '{numOfItems} 件',
  'List contains {numOfItems} items': '{numOfItems} 件', 'Toggle section': '開く・閉じる', 'Delete item': '削除',
  'Section contains an error': 'この組にエラーがあります', 'Section contains edits': 'この組は編集されています',
  'Section contains data': 'この組にはデータがあります', 'Toggle list item': '開く・閉じる'
};

function words(text, values) {
  const shown = LIST_WORDS[text] || text;
  return shown.replace(/{([^}]+)}/g, (all, key) => (values && key in values ? String(values[key]) : all));
}

function extensions(element, type) {
  const ext = getBusinessObject(element).get('extensionElements');
  return ext ? ext.get('values').filter((v) => v.$type === type) : [];
}

function update(element, item, properties) {
  return { cmd: 'element.updateModdleProperties', context: { element, moddleElement: item, properties } };
}

function addTo(element, injector, type, attributes) {
  const bpmnFactory = injector.get('bpmnFactory');
  const moddle = injector.get('moddle');
  const commandStack = injector.get('commandStack');
  return function (event) {
    if (event) { event.stopPropagation(); }
    const owner = getBusinessObject(element);
    const commands = [];
    let ext = owner.get('extensionElements');
    if (!ext) {
      ext = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
      ext.$parent = owner;
      commands.push(update(element, owner, { extensionElements: ext }));
    }
    const created = moddle.createAny(type, JICHI, attributes());
    created.$parent = ext;
    commands.push(update(element, ext, { values: [...ext.get('values'), created] }));
    commandStack.execute('properties-panel.multi-command-executor', commands);
  };
}

function removeFrom(element, injector, item) {
  const commandStack = injector.get('commandStack');
  return function (event) {
    if (event) { event.stopPropagation(); }
    const ext = getBusinessObject(element).get('extensionElements');
    commandStack.execute('element.updateModdleProperties', {
      element, moddleElement: ext, properties: { values: ext.get('values').filter((v) => v !== item) }
    });
  };
}

// one attribute of a jichi extension element, as a text field (or a checkbox for true/false attributes)
function attribute(name, label, description, checkbox) {
  return function Attribute(props) {
    const { element, item, id } = props;
    const commandStack = useService('commandStack');
    const debounce = useService('debounceInput');
    const set = (value) => commandStack.execute('element.updateModdleProperties',
      { element, moddleElement: item, properties: { [name]: value } });
    if (checkbox) {
      return CheckboxEntry({
        element: item, id, label, description,
        getValue: (it) => it.get(name) === 'true',
        setValue: (value) => set(value ? 'true' : undefined)
      });
    }
    return TextFieldEntry({
      element: item, id, label, description, debounce,
      getValue: (it) => it.get(name) || '',
      setValue: (value) => set((value || '').trim() || undefined)
    });
  };
}

const FieldName = attribute('name', '名前', '規則・条件式・スクリプトで使う名前');
const FieldType = attribute('type', '型', TYPES_HELP);
const FieldLabel = attribute('label', '見出し', '窓口の様式に出す見出し');
const FieldRequired = attribute('required', '必須', '', true);
const FieldHelp = attribute('help', '説明', '様式で見出しの下に出す説明');
const DecisionName = attribute('name', '判定（決定・表の名前）', '規則ファイルの決定・表（jichi rules manifest）');
const DecisionResult = attribute('result', '結果の名前', '空なら判定と同じ名前で案件のデータに入ります');
const DecisionOn = attribute('on', '基準日（式）', '例: 申請日。空なら規則の「基準日とする」入力');

function listGroup(element, injector, id, label, type, entries, fresh) {
  const items = extensions(element, type).map((item, index) => {
    const prefix = `${id}-${index}`;
    return {
      id: prefix,
      label: item.get('name') || '（名前なし）',
      entries: entries.map(([suffix, component, isEdited]) =>
        ({ id: `${prefix}-${suffix}`, component, isEdited, item, element })),
      autoFocusEntry: `${prefix}-name`,
      remove: removeFrom(element, injector, item)
    };
  });
  return { id, label, component: ListGroup, items, add: addTo(element, injector, type, fresh), translate: words };
}

function fieldsGroup(element, injector) {
  return listGroup(element, injector, 'jichiFields', '項目（jichi:field、窓口の様式）', 'jichi:field', [
    ['name', FieldName, isTextFieldEntryEdited], ['type', FieldType, isTextFieldEntryEdited],
    ['label', FieldLabel, isTextFieldEntryEdited], ['required', FieldRequired, isCheckboxEntryEdited],
    ['help', FieldHelp, isTextFieldEntryEdited]
  ], () => {
    const n = extensions(element, 'jichi:field').length + 1;
    return { name: `項目${n}`, type: '文字列', label: `項目${n}` };
  });
}

function dataGroup(element, injector) {
  return listGroup(element, injector, 'jichiData', 'データ（jichi:data、プロセスの変数）', 'jichi:data', [
    ['name', FieldName, isTextFieldEntryEdited], ['type', FieldType, isTextFieldEntryEdited]
  ], () => ({ name: `データ${extensions(element, 'jichi:data').length + 1}`, type: '文字列' }));
}

function decisionGroup(element, injector) {
  // normally one decision; a task without one gets it from 追加 (an empty name is BPM460 on check)
  return listGroup(element, injector, 'jichiDecision', '判定（jichi:decision）', 'jichi:decision', [
    ['name', DecisionName, isTextFieldEntryEdited], ['result', DecisionResult, isTextFieldEntryEdited],
    ['on', DecisionOn, isTextFieldEntryEdited]
  ], () => ({ name: '' }));
}

export default function JichiPropertiesProvider(propertiesPanel, injector) {
  this.getGroups = function (element) {
    return function (groups) {
      const own = entries(element);
      const added = [];
      if (own.length) {
        added.push({ id: 'jichi', label: 'jichi（実行される内容）', entries: own, component: Group });
      }
      if (is(element, 'bpmn:Process')) { added.push(dataGroup(element, injector)); }
      if (is(element, 'bpmn:UserTask')) { added.push(fieldsGroup(element, injector)); }
      if (is(element, 'bpmn:BusinessRuleTask')) { added.push(decisionGroup(element, injector)); }
      groups.splice(1, 0, ...added);
      return groups;
    };
  };
  propertiesPanel.registerProvider(400, this);  // after getGroups exists: the panel checks for it
}
JichiPropertiesProvider.$inject = ['propertiesPanel', 'injector'];
