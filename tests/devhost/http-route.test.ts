import { describe, expect, it } from 'vitest';
import { compareRoutePrecedence, compileRoute, RouteTemplateError } from '../../devhost/http/http-route.js';

describe('route templates', () => {
  it('matches literals case-insensitively and tolerates a trailing slash', () => {
    const r = compileRoute('Products/List');
    expect(r.match('/products/list')).toEqual({});
    expect(r.match('/PRODUCTS/LIST/')).toEqual({});
    expect(r.match('/products')).toBeUndefined();
  });

  it('captures and decodes parameters', () => {
    expect(compileRoute('users/{id}/orders/{orderId}').match('/users/a%20b/orders/7')).toEqual({ id: 'a b', orderId: '7' });
  });

  it('supports optional trailing parameters and defaults', () => {
    const r = compileRoute('docs/{section?}/{page?}');
    expect(r.match('/docs')).toEqual({});
    expect(r.match('/docs/intro')).toEqual({ section: 'intro' });
    expect(r.match('/docs/intro/2')).toEqual({ section: 'intro', page: '2' });
    expect(compileRoute('lang/{code=en}').match('/lang')).toEqual({ code: 'en' });
  });

  it('checks constraints', () => {
    const int = compileRoute('n/{v:int}');
    expect(int.match('/n/12')).toEqual({ v: '12' });
    expect(int.match('/n/-3')).toEqual({ v: '-3' });
    expect(int.match('/n/1.5')).toBeUndefined();
    expect(compileRoute('g/{id:guid}').match('/g/3f2504e0-4f89-11d3-9a0c-0305e82c3301')).toBeDefined();
    expect(compileRoute('g/{id:guid}').match('/g/nope')).toBeUndefined();
    expect(compileRoute('b/{flag:bool}').match('/b/TRUE')).toEqual({ flag: 'TRUE' });
    expect(compileRoute('r/{n:range(1,5)}').match('/r/6')).toBeUndefined();
    expect(compileRoute('r/{n:range(1,5)}').match('/r/5')).toEqual({ n: '5' });
    expect(compileRoute('l/{s:minlength(3):maxlength(4)}').match('/l/ab')).toBeUndefined();
    expect(compileRoute('l/{s:minlength(3):maxlength(4)}').match('/l/abcd')).toEqual({ s: 'abcd' });
    expect(compileRoute('x/{code:regex(^[a-z]{{2}}\\d$)}').match('/x/ab1')).toBeDefined();
    expect(compileRoute('o/{id:int?}').match('/o')).toEqual({});
    expect(compileRoute('o/{id:int?}').match('/o/x')).toBeUndefined();
  });

  it('captures the rest of the path with a catch-all, including slashes', () => {
    const r = compileRoute('static/{*path}');
    expect(r.match('/static/css/site.css')).toEqual({ path: 'css/site.css' });
    expect(r.match('/static')).toEqual({});
  });

  it('supports several parameters in one segment', () => {
    expect(compileRoute('files/{name}.{ext}').match('/files/report.pdf')).toEqual({ name: 'report', ext: 'pdf' });
  });

  it('rejects bad templates with a reason', () => {
    for (const bad of ['a/{id', 'a/{id:unknown}', 'a/{*rest}/b', 'a/{x?}/b', 'a/{1bad}', 'a/{x}/{x}', 'a//b', 'a/{n:range(1)}']) {
      expect(() => compileRoute(bad), bad).toThrow(RouteTemplateError);
    }
  });

  it('orders literals before constrained parameters before plain parameters before catch-alls', () => {
    const routes = ['items/{*rest}', 'items/{id}', 'items/{id:int}', 'items/latest'].map(compileRoute);
    expect(routes.sort(compareRoutePrecedence).map((r) => r.template)).toEqual(['items/latest', 'items/{id:int}', 'items/{id}', 'items/{*rest}']);
  });
});
