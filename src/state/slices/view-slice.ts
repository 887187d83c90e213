// What the user is looking at: the selected unit and target token, and the hovered unit.
import type { StateCreator } from 'zustand';
import type { AppState } from './app-state';
import type { ViewSlice } from './app-state';
export type { ViewSlice } from './app-state';

export const createViewSlice: StateCreator<AppState, [], [], ViewSlice> = (set) => ({
  selectedUnit: null,
  selectedTarget: null,
  hoveredUnit: null,
  selectUnit: (selectedUnit) => set({ selectedUnit }),
  selectTarget: (selectedTarget) => set({ selectedTarget }),
  hover: (hoveredUnit) => set({ hoveredUnit }),
});
