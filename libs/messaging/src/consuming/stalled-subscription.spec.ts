import { stallAction, type StallView } from './stalled-subscription';

const STALL_MS = 10_000;
const NOW = 1_000_000;
const stalled: StallView = {
  lostSince: NOW - STALL_MS,
  created: true,
  connected: true,
  recoveryPending: false,
  channelOpen: true,
  settingUp: false,
};

describe('stallAction', () => {
  it('recycles an open channel that has carried no consumer for the stall time', () => {
    expect(stallAction(stalled, NOW, STALL_MS)).toBe('recycle');
    expect(stallAction({ ...stalled, settingUp: true }, NOW, STALL_MS)).toBe('recycle');
  });

  it('reopens a channel that is gone while nothing is opening it', () => {
    expect(stallAction({ ...stalled, channelOpen: false }, NOW, STALL_MS)).toBe('reopen');
    expect(stallAction({ ...stalled, channelOpen: false, settingUp: true }, NOW, STALL_MS)).toBe('none');
  });

  it('leaves alone a subscription with a consumer, one lost only lately, and one that is recovering or offline', () => {
    expect(stallAction({ ...stalled, lostSince: undefined }, NOW, STALL_MS)).toBe('none');
    expect(stallAction({ ...stalled, lostSince: NOW - STALL_MS + 1 }, NOW, STALL_MS)).toBe('none');
    expect(stallAction({ ...stalled, recoveryPending: true }, NOW, STALL_MS)).toBe('none');
    expect(stallAction({ ...stalled, connected: false }, NOW, STALL_MS)).toBe('none');
    expect(stallAction({ ...stalled, created: false }, NOW, STALL_MS)).toBe('none');
  });
});
