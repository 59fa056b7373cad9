/** Thrown by an app builder when its target cannot run here; the reason is printed and reported. */
export class SkipTarget extends Error {
  constructor(reason) {
    super(reason);
    this.name = 'SkipTarget';
  }
}
