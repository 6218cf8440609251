import { securityHeaders } from './security-headers';

describe('securityHeaders', () => {
  it("holds helmet's defaults without a Content Security Policy", () => {
    const headers = securityHeaders();
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(headers['strict-transport-security']).toMatch(/^max-age=\d+/);
    expect(headers['referrer-policy']).toBe('no-referrer');
    expect(headers).not.toHaveProperty('content-security-policy');
    expect(headers).not.toHaveProperty('x-powered-by');
  });

  it('follows the options given', () => {
    expect(securityHeaders({ contentSecurityPolicy: false, frameguard: { action: 'deny' } })['x-frame-options']).toBe('DENY');
    expect(securityHeaders({ contentSecurityPolicy: { directives: { defaultSrc: ["'self'"] } } })['content-security-policy']).toMatch(
      /default-src 'self'/,
    );
  });
});
