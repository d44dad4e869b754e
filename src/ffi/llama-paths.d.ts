// llama-paths.d.ts - types of llama-paths.js for the TypeScript that imports it.
export declare const PLATFORM: string;
export declare function findPackage(root: string, name: string): string | null;
/** dir: the folder of the prebuilt libraries; suffix: "" or ".<variant>" (e.g. ".cuda") */
export declare function llamaLibDir(root: string): { dir: string; suffix: string };
