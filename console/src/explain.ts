// EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) as a tree: one <details> per plan node (keyboard:
// Enter/Space fold it), children nested, with the figures an operator reads first.

import { h } from './dom.js';

type PlanNode = Record<string, unknown> & { Plans?: PlanNode[] };

function num(n: unknown, digits = 3): string {
  return typeof n === 'number' ? String(Number(n.toFixed(digits))) : '';
}

function title(node: PlanNode): string {
  let t = String(node['Node Type'] ?? '?');
  if (node['Join Type'] && String(t).includes('Join')) t = `${node['Join Type']} ${t}`;
  if (node['Relation Name']) t += ` on ${node['Relation Name']}`;
  if (node['Alias'] && node['Alias'] !== node['Relation Name']) t += ` ${node['Alias']}`;
  if (node['Index Name']) t += ` using ${node['Index Name']}`;
  return t;
}

function figures(node: PlanNode): string {
  const parts: string[] = [];
  if (node['Actual Total Time'] !== undefined) {
    parts.push(`time ${num(node['Actual Startup Time'])}..${num(node['Actual Total Time'])} ms`);
    parts.push(`rows ${node['Actual Rows']} (est. ${node['Plan Rows']})`);
    if (node['Actual Loops'] !== 1) parts.push(`loops ${node['Actual Loops']}`);
  } else {
    parts.push(`est. rows ${node['Plan Rows']}`);
  }
  parts.push(`cost ${num(node['Startup Cost'], 2)}..${num(node['Total Cost'], 2)}`);
  const hit = node['Shared Hit Blocks'];
  const read = node['Shared Read Blocks'];
  if (typeof hit === 'number' || typeof read === 'number') parts.push(`buffers hit ${hit ?? 0} read ${read ?? 0}`);
  return parts.join(' · ');
}

const DETAIL_KEYS = ['Filter', 'Index Cond', 'Hash Cond', 'Merge Cond', 'Join Filter', 'Sort Key', 'Group Key', 'Rows Removed by Filter'];

function nodeView(node: PlanNode): HTMLElement {
  const details = h(
    'details',
    { open: true, class: 'plan-node' },
    h('summary', {}, h('strong', {}, title(node)), ' ', h('span', { class: 'muted' }, figures(node))),
  );
  const extra = DETAIL_KEYS.filter((k) => node[k] !== undefined).map((k) =>
    h('li', {}, `${k}: ${Array.isArray(node[k]) ? (node[k] as unknown[]).join(', ') : String(node[k])}`),
  );
  if (extra.length) details.append(h('ul', { class: 'plan-extra' }, ...extra));
  if (node.Plans?.length) details.append(h('ul', { class: 'plan-children' }, ...node.Plans.map((c) => h('li', {}, nodeView(c)))));
  return details;
}

// `plan`: the value of the one row's "QUERY PLAN" column (an array of one object).
export function explainTree(plan: unknown): HTMLElement {
  const top = (Array.isArray(plan) ? plan[0] : plan) as Record<string, unknown> | undefined;
  if (!top || typeof top !== 'object' || !top.Plan) return h('p', { class: 'error' }, 'no plan in the answer');
  const times = [
    top['Planning Time'] !== undefined ? `planning ${num(top['Planning Time'])} ms` : '',
    top['Execution Time'] !== undefined ? `execution ${num(top['Execution Time'])} ms` : '',
  ].filter(Boolean);
  return h('div', { class: 'plan', 'data-testid': 'plan' }, h('p', { class: 'muted' }, times.join(' · ')), nodeView(top.Plan as PlanNode));
}
