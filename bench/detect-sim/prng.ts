/**
 * Seeded randomness for the simulator: sfc32 (fast, 128-bit state), normals by Box–Muller, binomials by inversion
 * for small means and a continuity-corrected normal approximation for large ones (n·p·q > 30, where its error is
 * far below the Monte-Carlo noise of the benchmark). Never Math.random: every stream is reproducible from a seed.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(...seeds: number[]) {
    // Each seed word is folded in through a bijective mixer, so (seed, cohort, segment, salt) tuples give
    // unrelated streams. (An earlier version only *added* the words to the hash state, so every tuple with the
    // same sum — cohort s of segment j+1 and cohort s+1 of segment j — drew the same numbers: adjacent cohorts'
    // arrival splits were correlated and young-cohort counts looked far noisier than binomial.)
    const fmix = (z: number): number => {
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    let h = 0x9e3779b9;
    for (const s of seeds) h = fmix(((h ^ (s | 0)) + 0x9e3779b9) | 0);
    this.a = fmix((h + 0x6a09e667) | 0);
    this.b = fmix(((this.a ^ 0xbb67ae85) + h) | 0);
    this.c = fmix(((this.b ^ 0x3c6ef372) + h) | 0);
    this.d = fmix(((this.c ^ 0xa54ff53a) + h) | 0);
    for (let i = 0; i < 12; i++) this.uint32();
  }

  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in (0, 1). */
  next(): number {
    return (this.uint32() + 0.5) / 4294967296;
  }

  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  binomial(n: number, p: number): number {
    if (n <= 0 || p <= 0) return 0;
    if (p >= 1) return n;
    if (p > 0.5) return n - this.binomial(n, 1 - p);
    const mean = n * p;
    const v = mean * (1 - p);
    if (v > 30) {
      const x = Math.round(mean + Math.sqrt(v) * this.normal());
      return x < 0 ? 0 : x > n ? n : x;
    }
    // Inversion from 0 (mean ≤ ~60 here, so a few dozen steps at most).
    const q = 1 - p;
    const ratio = p / q;
    let prob = Math.pow(q, n);
    if (prob === 0) {
      const x = Math.round(mean + Math.sqrt(v) * this.normal());
      return x < 0 ? 0 : x > n ? n : x;
    }
    let u = this.next();
    let k = 0;
    while (u > prob && k < n) {
      u -= prob;
      prob *= (ratio * (n - k)) / (k + 1);
      k++;
    }
    return k;
  }

  poisson(mean: number): number {
    if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()));
    let l = Math.exp(-mean);
    let k = 0;
    let u = this.next();
    while (u > l) {
      u -= l;
      k++;
      l *= mean / k;
    }
    return k;
  }
}
